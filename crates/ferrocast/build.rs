// The web app's build (web/dist) is embedded with include_dir!, which cargo does not track:
// without this a rebuilt app would not reach the binary until some Rust file changed.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
