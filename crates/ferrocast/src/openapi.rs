//! The OpenAPI 3.1 document served at `/openapi.json`, built from one table of routes. A test
//! requests every route in the table, so a documented route that does not exist fails CI.

use serde_json::{Map, Value, json};

use crate::models::{ContentType, ProcessingStatus, Quality, Role, StreamStatus};

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub query: &'static [&'static str],
    pub body: Option<&'static str>,
    pub response: Option<&'static str>,
}

const fn r(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    body: Option<&'static str>,
    response: Option<&'static str>,
) -> Route {
    Route {
        method,
        path,
        tag,
        summary,
        query,
        body,
        response,
    }
}

pub const ROUTES: &[Route] = &[
    r(
        "get",
        "/health",
        "platform",
        "Health: database reachable, ffmpeg/ffprobe found",
        &[],
        None,
        None,
    ),
    r(
        "get",
        "/openapi.json",
        "platform",
        "This document",
        &[],
        None,
        None,
    ),
    r(
        "post",
        "/api/auth/register",
        "accounts",
        "Create an account (the first becomes admin)",
        &[],
        Some("Register"),
        Some("Token"),
    ),
    r(
        "post",
        "/api/auth/login",
        "accounts",
        "Exchange username/e-mail and password for a token",
        &[],
        Some("Login"),
        Some("Token"),
    ),
    r(
        "post",
        "/api/auth/session",
        "accounts",
        "Sign a browser in: sets the HttpOnly session cookie; writes it signs must send X-CSRF-Token",
        &[],
        Some("Login"),
        Some("Session"),
    ),
    r(
        "get",
        "/api/auth/session",
        "accounts",
        "The browser session's account and CSRF token (nulls when signed out)",
        &[],
        None,
        Some("Session"),
    ),
    r(
        "delete",
        "/api/auth/session",
        "accounts",
        "Sign the browser out (removes the session cookie)",
        &[],
        None,
        None,
    ),
    r(
        "get",
        "/api/auth/me",
        "accounts",
        "The signed-in account",
        &[],
        None,
        Some("User"),
    ),
    r(
        "get",
        "/api/users/{user_id}",
        "accounts",
        "An account's public profile",
        &[],
        None,
        Some("User"),
    ),
    r(
        "get",
        "/api/users",
        "accounts",
        "Every account, newest first, e-mail included (admin)",
        &["role", "limit", "offset"],
        None,
        Some("UserList"),
    ),
    r(
        "put",
        "/api/users/{user_id}/role",
        "accounts",
        "Change an account's role (admin)",
        &[],
        Some("RoleChange"),
        Some("User"),
    ),
    r(
        "post",
        "/api/streams",
        "streams",
        "Create a stream (its key is in this response)",
        &[],
        Some("StreamCreate"),
        Some("Stream"),
    ),
    r(
        "get",
        "/api/streams",
        "streams",
        "List streams",
        &[
            "status",
            "content_type",
            "category",
            "streamer_id",
            "limit",
            "offset",
        ],
        None,
        Some("StreamList"),
    ),
    r(
        "get",
        "/api/streams/{stream_id}",
        "streams",
        "One stream",
        &["password"],
        None,
        Some("Stream"),
    ),
    r(
        "patch",
        "/api/streams/{stream_id}",
        "streams",
        "Edit a stream (owner)",
        &["streamer_id"],
        Some("StreamUpdate"),
        Some("Stream"),
    ),
    r(
        "delete",
        "/api/streams/{stream_id}",
        "streams",
        "Delete a stream (owner; ends it first if live)",
        &["streamer_id"],
        None,
        None,
    ),
    r(
        "post",
        "/api/streams/{stream_id}/start",
        "streams",
        "scheduled -> live",
        &["streamer_id"],
        None,
        Some("Stream"),
    ),
    r(
        "post",
        "/api/streams/{stream_id}/end",
        "streams",
        "live -> ended",
        &["streamer_id"],
        None,
        Some("Stream"),
    ),
    r(
        "post",
        "/api/streams/{stream_id}/key",
        "streams",
        "Regenerate the stream key (owner)",
        &["streamer_id"],
        None,
        Some("Stream"),
    ),
    r(
        "get",
        "/api/streams/{stream_id}/chat",
        "chat",
        "Chat history, oldest first",
        &["limit", "password"],
        None,
        Some("ChatList"),
    ),
    r(
        "post",
        "/api/streams/{stream_id}/chat",
        "chat",
        "Send a chat message",
        &["password"],
        Some("ChatSend"),
        Some("ChatMessage"),
    ),
    r(
        "delete",
        "/api/streams/{stream_id}/chat/{message_id}",
        "chat",
        "Delete a message (moderator, admin or streamer)",
        &[],
        None,
        None,
    ),
    r(
        "get",
        "/api/streams/{stream_id}/analytics",
        "analytics",
        "Analytics samples of the last hours",
        &["hours", "password"],
        None,
        Some("AnalyticsList"),
    ),
    r(
        "get",
        "/api/stats",
        "analytics",
        "Platform-wide counts",
        &[],
        None,
        None,
    ),
    r(
        "post",
        "/api/videos/upload",
        "videos",
        "Upload a video (multipart: file, title, description, uploader_id, category, tags, is_public)",
        &[],
        Some("VideoUpload"),
        Some("Video"),
    ),
    r(
        "post",
        "/api/uploads",
        "uploads",
        "Create a resumable upload (tus 1.0: Tus-Resumable, Upload-Length, Upload-Metadata with filename, title, description, uploader_id, category, tags, is_public in base64); 201 with Location. A body of application/offset+octet-stream is its first bytes",
        &[],
        None,
        None,
    ),
    r(
        "head",
        "/api/uploads/{upload_id}",
        "uploads",
        "The bytes the server has (Upload-Offset) and the declared Upload-Length (tus)",
        &[],
        None,
        None,
    ),
    r(
        "patch",
        "/api/uploads/{upload_id}",
        "uploads",
        "Append bytes at Upload-Offset (tus; Content-Type application/offset+octet-stream); 204 with the new Upload-Offset. The last byte makes the video",
        &[],
        None,
        None,
    ),
    r(
        "delete",
        "/api/uploads/{upload_id}",
        "uploads",
        "Terminate an upload and delete its bytes (tus)",
        &[],
        None,
        None,
    ),
    r(
        "get",
        "/api/uploads/{upload_id}",
        "uploads",
        "A resumable upload's progress and, once finished, its video",
        &[],
        None,
        Some("UploadStatus"),
    ),
    r(
        "get",
        "/api/videos",
        "videos",
        "List videos",
        &["category", "uploader_id", "is_public", "limit", "offset"],
        None,
        Some("VideoList"),
    ),
    r(
        "get",
        "/api/videos/{video_id}",
        "videos",
        "One video",
        &[],
        None,
        Some("Video"),
    ),
    r(
        "patch",
        "/api/videos/{video_id}",
        "videos",
        "Edit a video (uploader)",
        &["uploader_id"],
        Some("VideoUpdate"),
        Some("Video"),
    ),
    r(
        "delete",
        "/api/videos/{video_id}",
        "videos",
        "Delete a video and its file (uploader)",
        &["uploader_id"],
        None,
        None,
    ),
    r(
        "post",
        "/api/videos/{video_id}/like",
        "videos",
        "Like (one reaction per viewer)",
        &[],
        None,
        Some("Video"),
    ),
    r(
        "post",
        "/api/videos/{video_id}/dislike",
        "videos",
        "Dislike (one reaction per viewer)",
        &[],
        None,
        Some("Video"),
    ),
    r(
        "post",
        "/api/videos/{video_id}/view",
        "videos",
        "Count a view (once per viewer per day)",
        &[],
        None,
        None,
    ),
    r(
        "post",
        "/api/videos/{video_id}/transcode",
        "processing",
        "Queue processing into an HLS/DASH ladder, thumbnails and a preview (owner; 202)",
        &["uploader_id"],
        Some("TranscodeRequest"),
        Some("Job"),
    ),
    r(
        "get",
        "/api/videos/{video_id}/jobs",
        "processing",
        "The video's processing jobs, newest first",
        &[],
        None,
        Some("JobList"),
    ),
    r(
        "get",
        "/api/jobs",
        "processing",
        "The whole job queue, newest first, with each video's title (admin)",
        &["state", "limit", "offset"],
        None,
        Some("QueuedJobList"),
    ),
    r(
        "get",
        "/api/jobs/{job_id}",
        "processing",
        "A job: state, progress percent, ETA, error",
        &[],
        None,
        Some("Job"),
    ),
    r(
        "delete",
        "/api/jobs/{job_id}",
        "processing",
        "Cancel a job (owner); a running ffmpeg is stopped",
        &["uploader_id"],
        None,
        Some("Job"),
    ),
    r(
        "post",
        "/api/jobs/{job_id}/cancel",
        "processing",
        "Cancel a job (owner); same as DELETE",
        &["uploader_id"],
        None,
        Some("Job"),
    ),
    r(
        "get",
        "/api/stream/{video_id}/hls/playlist.m3u8",
        "delivery",
        "HLS master playlist (fMP4/CMAF) of a video, or of a live stream given a stream_ id (as its \
         hls_url); non-public videos need the owner's token or ?sig=, private streams ?password=",
        &["sig", "password", "low_latency"],
        None,
        None,
    ),
    r(
        "get",
        "/api/stream/{video_id}/hls/{file}",
        "delivery",
        "HLS media playlists and segments named by the master playlist",
        &["sig"],
        None,
        None,
    ),
    r(
        "get",
        "/api/stream/{video_id}/dash/manifest.mpd",
        "delivery",
        "DASH manifest over the same segments as HLS",
        &["sig"],
        None,
        None,
    ),
    r(
        "get",
        "/api/stream/{video_id}/dash/{file}",
        "delivery",
        "DASH segments named by the manifest",
        &["sig"],
        None,
        None,
    ),
    r(
        "get",
        "/api/videos/{video_id}/thumbnails/{file}",
        "delivery",
        "card.jpg, player.jpg (poster.jpg), storyboard.jpg, storyboard.vtt",
        &["sig"],
        None,
        None,
    ),
    r(
        "get",
        "/api/videos/{video_id}/preview.mp4",
        "delivery",
        "The 30-second preview clip (byte ranges)",
        &["sig"],
        None,
        None,
    ),
    r(
        "get",
        "/api/videos/{video_id}/file",
        "delivery",
        "The original upload (byte ranges)",
        &["sig"],
        None,
        None,
    ),
    r(
        "post",
        "/api/playlists",
        "playlists",
        "Create a playlist",
        &[],
        Some("PlaylistCreate"),
        Some("Playlist"),
    ),
    r(
        "get",
        "/api/playlists",
        "playlists",
        "List playlists",
        &["creator_id", "is_public", "limit", "offset"],
        None,
        Some("PlaylistList"),
    ),
    r(
        "get",
        "/api/playlists/{playlist_id}",
        "playlists",
        "One playlist",
        &[],
        None,
        Some("Playlist"),
    ),
    r(
        "delete",
        "/api/playlists/{playlist_id}",
        "playlists",
        "Delete a playlist (creator)",
        &["creator_id"],
        None,
        None,
    ),
    r(
        "post",
        "/api/playlists/{playlist_id}/videos/{video_id}",
        "playlists",
        "Add a video",
        &["creator_id"],
        None,
        Some("Playlist"),
    ),
    r(
        "delete",
        "/api/playlists/{playlist_id}/videos/{video_id}",
        "playlists",
        "Remove a video",
        &["creator_id"],
        None,
        Some("Playlist"),
    ),
    r(
        "get",
        "/api/streams/{stream_id}/events",
        "realtime",
        "Server-Sent Events: the stream's channel",
        &["password"],
        None,
        None,
    ),
    r(
        "get",
        "/api/videos/{video_id}/events",
        "realtime",
        "Server-Sent Events: the video's channel (upload and processing progress)",
        &[],
        None,
        None,
    ),
    r(
        "get",
        "/ws/{stream_id}",
        "realtime",
        "WebSocket: stream events and chat (upgrade)",
        &["password", "token"],
        None,
        None,
    ),
    r(
        "get",
        "/hls/{stream_id}.m3u8",
        "live",
        "HLS master playlist of a live stream (the stream's hls_url); opens a playback session",
        &["password", "low_latency"],
        None,
        None,
    ),
    r(
        "get",
        "/hls/{stream_id}/{file}",
        "live",
        "index.m3u8 (LL-HLS, blocking on _HLS_msn/_HLS_part), plain.m3u8, init.mp4, \
         seg{msn}.m4s, part{msn}.{i}.m4s; URIs as the master playlist gives them",
        &["s", "t", "_HLS_msn", "_HLS_part"],
        None,
        None,
    ),
    r(
        "get",
        "/api/streams/{stream_id}/thumbnail.jpg",
        "live",
        "JPEG of a live stream's latest keyframe (the stream's thumbnail_url), refreshed every \
         LIVE_THUMBNAIL_INTERVAL while live and kept after the end; private streams as for playback",
        &["password", "t"],
        None,
        None,
    ),
    r(
        "get",
        "/api/streams/{stream_id}/health",
        "live",
        "Ingest health of a live stream, measured from what the live origin keeps (owner or \
         admin; 404 for anyone else)",
        &[],
        None,
        Some("StreamHealth"),
    ),
    r(
        "get",
        "/api/videos/{video_id}/thumbnail.jpg",
        "videos",
        "JPEG thumbnail of a video (set for recordings of live streams)",
        &[],
        None,
        None,
    ),
    r(
        "get",
        "/hls/{stream_id}/{rendition}/{file}",
        "live",
        "The same files for one ABR rendition (360p, 720p, 1080p, 4K) when ENABLE_TRANSCODING \
         gives the stream a ladder; the master playlist lists them",
        &["s", "t", "_HLS_msn", "_HLS_part"],
        None,
        None,
    ),
];

fn enum_schema(values: Vec<&'static str>) -> Value {
    json!({ "type": "string", "enum": values })
}

fn obj(props: &[(&str, Value)], required: &[&str]) -> Value {
    let mut p = Map::new();
    for (k, v) in props {
        p.insert((*k).to_string(), v.clone());
    }
    json!({ "type": "object", "properties": p, "required": required })
}

fn s() -> Value {
    json!({ "type": "string" })
}
fn ns() -> Value {
    json!({ "type": ["string", "null"] })
}
fn i() -> Value {
    json!({ "type": "integer" })
}
fn ni() -> Value {
    json!({ "type": ["integer", "null"] })
}
fn nn() -> Value {
    json!({ "type": ["number", "null"] })
}
fn b() -> Value {
    json!({ "type": "boolean" })
}
fn refs(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}
fn arr(item: Value) -> Value {
    json!({ "type": "array", "items": item })
}

fn schemas() -> Value {
    let content_type = enum_schema(ContentType::ALL.iter().map(|v| v.as_str()).collect());
    let status = enum_schema(StreamStatus::ALL.iter().map(|v| v.as_str()).collect());
    let quality = enum_schema(Quality::ALL.iter().map(|v| v.as_str()).collect());
    let processing = enum_schema(ProcessingStatus::ALL.iter().map(|v| v.as_str()).collect());
    let role = enum_schema(Role::ALL.iter().map(|v| v.as_str()).collect());
    json!({
        "Stream": obj(&[
            ("id", s()), ("title", s()), ("description", ns()), ("streamer_id", s()),
            ("content_type", content_type.clone()), ("status", status), ("stream_key", ns()),
            ("rtmp_url", ns()), ("hls_url", s()), ("websocket_url", s()), ("thumbnail_url", ns()),
            ("viewer_count", i()), ("max_viewers", i()), ("start_time", ns()), ("end_time", ns()),
            ("duration", json!({"type": ["integer", "null"]})), ("quality", quality.clone()),
            ("is_private", b()), ("password", json!({"type": "null"})), ("tags", arr(s())),
            ("category", ns()), ("language", s()), ("created_at", s()), ("updated_at", s()),
            ("record", b()), ("recording_video_id", ns()),
        ], &["id", "title", "streamer_id", "status", "hls_url"]),
        "StreamList": arr(refs("Stream")),
        "StreamCreate": obj(&[
            ("title", s()), ("description", s()), ("streamer_id", s()), ("content_type", content_type),
            ("category", s()), ("tags", arr(s())), ("max_viewers", i()), ("quality", quality.clone()),
            ("is_private", b()), ("password", s()), ("language", s()), ("record", b()),
        ], &["title"]),
        "StreamUpdate": obj(&[
            ("title", s()), ("description", s()), ("category", s()), ("tags", arr(s())),
            ("max_viewers", i()), ("quality", quality), ("is_private", b()), ("password", s()),
            ("language", s()), ("record", b()),
        ], &[]),
        "Video": obj(&[
            ("id", s()), ("title", s()), ("description", ns()), ("uploader_id", s()), ("filename", s()),
            ("file_path", s()), ("file_size", i()), ("duration", json!({"type": ["number", "null"]})),
            ("format", s()), ("resolution", ns()), ("bitrate", json!({"type": ["integer", "null"]})),
            ("thumbnail_url", ns()), ("view_count", i()), ("like_count", i()), ("dislike_count", i()),
            ("category", ns()), ("tags", arr(s())), ("is_public", b()), ("is_processed", b()),
            ("processing_status", processing), ("upload_date", s()), ("created_at", s()),
            ("updated_at", s()), ("processing_error", ns()), ("hls_url", ns()), ("dash_url", ns()),
            ("preview_url", ns()),
            ("thumbnails", json!({"type": ["object", "null"], "properties": {
                "poster": s(), "card": s(), "player": s(), "storyboard": ns(), "storyboard_vtt": ns()
            }})),
            ("renditions", arr(obj(&[("name", s()), ("width", i()), ("height", i()), ("bitrate", i()), ("passthrough", b())], &["name", "width", "height"]))),
            ("content_type", json!({"type": ["string", "null"], "enum": ["recorded", null]})),
            ("stream_id", ns()),
        ], &["id", "title", "uploader_id"]),
        "VideoList": arr(refs("Video")),
        "TranscodeRequest": obj(&[
            ("profiles", arr(enum_schema(crate::vod::ladder::PROFILES.iter().map(|p| p.name).collect()))),
            ("generateHLS", b()), ("generateDASH", b()), ("generateThumbnails", b()),
        ], &[]),
        "Job": obj(&[
            ("id", s()), ("video_id", s()), ("kind", s()),
            ("state", enum_schema(vec!["queued", "running", "completed", "failed", "cancelled"])),
            ("progress", json!({"type": "number"})), ("eta_seconds", json!({"type": ["integer", "null"]})),
            ("attempts", i()), ("max_attempts", i()), ("error", ns()), ("params", json!({"type": "object"})),
            ("created_at", s()), ("started_at", ns()), ("finished_at", ns()), ("updated_at", s()),
        ], &["id", "video_id", "state", "progress"]),
        "JobList": arr(refs("Job")),
        "QueuedJob": json!({"allOf": [refs("Job"), obj(&[("video_title", ns())], &["video_title"])]}),
        "QueuedJobList": arr(refs("QueuedJob")),
        "StreamHealth": obj(&[
            ("stream_id", s()), ("live", b()), ("uptime_seconds", ni()),
            ("ingest_kbps", nn()), ("fps", nn()), ("keyframe_interval_seconds", nn()),
            ("window_seconds", nn()),
            ("video", json!({"type": ["object", "null"], "properties": {
                "codec": enum_schema(vec!["h264", "hevc"]), "codec_string": s(),
                "width": ni(), "height": ni()
            }})),
            ("audio", json!({"type": ["object", "null"], "properties": {
                "codec": enum_schema(vec!["aac"]), "codec_string": s(),
                "sample_rate": i(), "channels": ni()
            }})),
            ("renditions", arr(obj(&[("name", s()), ("width", ni()), ("height", ni()), ("bandwidth", ni())], &["name", "width", "height", "bandwidth"]))),
            ("viewers", i()),
        ], &["stream_id", "live", "uptime_seconds", "ingest_kbps", "fps", "keyframe_interval_seconds",
             "window_seconds", "video", "audio", "renditions", "viewers"]),
        "VideoUpload": obj(&[
            ("file", json!({"type": "string", "format": "binary"})), ("title", s()),
            ("description", s()), ("uploader_id", s()), ("category", s()),
            ("tags", json!({"type": "string", "description": "comma-separated"})), ("is_public", s()),
        ], &["file"]),
        "UploadStatus": obj(&[
            ("id", s()), ("video_id", s()),
            ("state", enum_schema(vec!["uploading", "completed", "failed", "expired"])),
            ("filename", s()), ("bytes_received", i()), ("total_bytes", i()),
            ("progress", json!({"type": "number"})), ("created_at", s()), ("updated_at", s()),
            ("expires_at", ns()), ("error", ns()),
            ("video", json!({"oneOf": [refs("Video"), {"type": "null"}]})),
        ], &["id", "video_id", "state", "bytes_received", "total_bytes", "progress"]),
        "VideoUpdate": obj(&[("title", s()), ("description", s()), ("category", s()), ("tags", arr(s())), ("is_public", b())], &[]),
        "ChatMessage": obj(&[
            ("id", s()), ("stream_id", s()), ("user_id", ns()), ("username", s()), ("message", s()),
            ("timestamp", s()), ("is_deleted", b()),
        ], &["id", "username", "message", "timestamp"]),
        "ChatList": arr(refs("ChatMessage")),
        "ChatSend": obj(&[("username", s()), ("message", s()), ("user_id", s())], &["message"]),
        "Playlist": obj(&[
            ("id", s()), ("name", s()), ("description", ns()), ("creator_id", s()),
            ("video_ids", arr(s())), ("video_count", i()), ("is_public", b()), ("created_at", s()),
            ("updated_at", s()),
        ], &["id", "name", "creator_id", "video_ids"]),
        "PlaylistList": arr(refs("Playlist")),
        "PlaylistCreate": obj(&[("name", s()), ("description", s()), ("creator_id", s()), ("video_ids", arr(s())), ("is_public", b())], &["name"]),
        "StreamAnalytics": obj(&[
            ("id", s()), ("stream_id", s()), ("timestamp", s()), ("viewer_count", i()),
            ("bandwidth_usage", json!({"type": "number"})), ("average_quality", s()),
            ("chat_messages_count", i()), ("likes_count", i()), ("shares_count", i()),
        ], &["id", "stream_id", "timestamp"]),
        "AnalyticsList": arr(refs("StreamAnalytics")),
        "UserList": arr(refs("User")),
        "User": obj(&[
            ("id", s()), ("username", s()), ("email", ns()), ("role", role.clone()), ("avatar_url", ns()),
            ("bio", ns()), ("is_streamer", b()), ("is_verified", b()), ("created_at", s()),
        ], &["id", "username", "role"]),
        "Register": obj(&[("username", s()), ("password", s()), ("email", s()), ("role", role.clone()), ("bio", s()), ("avatar_url", s())], &["username", "password"]),
        "Login": obj(&[("username", s()), ("password", s())], &["username", "password"]),
        "RoleChange": obj(&[("role", role)], &["role"]),
        "Session": obj(&[("user", refs("User")), ("csrf_token", s()), ("expires_in", i())], &["user", "csrf_token"]),
        "Token": obj(&[("access_token", s()), ("token_type", s()), ("expires_in", i()), ("user", refs("User"))], &["access_token"]),
        "Error": obj(&[("detail", json!({}))], &["detail"]),
    })
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        let mut params: Vec<Value> = route
            .path
            .split('/')
            // A parameter may share its segment with a suffix, as in `{stream_id}.m3u8`.
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.split_once('}')))
            .map(|(name, _)| name)
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": s()}))
            .collect();
        params.extend(
            route
                .query
                .iter()
                .map(|name| json!({"name": name, "in": "query", "required": false, "schema": s()})),
        );
        let mut op = json!({
            "tags": [route.tag],
            "summary": route.summary,
            "parameters": params,
            "responses": {
                "default": { "description": "Error", "content": { "application/json": { "schema": refs("Error") } } }
            },
        });
        let ok = match route.response {
            Some(name) => {
                json!({ "description": "OK", "content": { "application/json": { "schema": refs(name) } } })
            }
            None => json!({ "description": "OK" }),
        };
        op["responses"]["200"] = ok;
        if let Some(body) = route.body {
            let media = if body == "VideoUpload" {
                "multipart/form-data"
            } else {
                "application/json"
            };
            op["requestBody"] =
                json!({ "required": true, "content": { media: { "schema": refs(body) } } });
        }
        entry[route.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ferrocast",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Live and on-demand video streaming platform. Errors are {\"detail\": ...}; invalid input is 422 with the field's location.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } }
        },
        "security": [ {}, { "bearer": [] } ],
    })
}
