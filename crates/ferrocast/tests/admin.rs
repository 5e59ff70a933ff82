//! The admins' lists: every account, and the whole processing queue. Run against SQLite and
//! PostgreSQL alike.

mod common;

use common::{Backend, SharedDatabase, TestServer, error_locs};
use ferrocast::vod::jobs::{self, TranscodeParams};
use serde_json::{Value, json};

on_both_databases!(
    users_are_listed_to_admins_only,
    job_queue_is_listed_to_admins_only
);

async fn register(s: &TestServer, name: &str, role: &str) -> (String, String) {
    let (st, body) = s
        .post(
            "/api/auth/register",
            json!({"username": name, "password": "correct horse", "email": format!("{name}@example.com"), "role": role}),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["user"]["id"].as_str().unwrap().to_string(),
    )
}

/// A GET as `token`'s account, or anonymously.
async fn get_as(s: &TestServer, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = s.http.get(s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    s.send(req).await
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect()
}

async fn users_are_listed_to_admins_only(backend: Backend) {
    let Some(s) = TestServer::start(backend, &[]).await else {
        return;
    };
    // The first account of a server is its admin.
    let (admin, admin_id) = register(&s, "root", "viewer").await;
    let (viewer, viewer_id) = register(&s, "watcher", "viewer").await;
    let (streamer, streamer_id) = register(&s, "caster", "streamer").await;
    let (_, second_streamer_id) = register(&s, "caster2", "streamer").await;

    // Development mode lets anonymous writes through elsewhere, but not this.
    let r = s.http.get(s.url("/api/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    for token in [&viewer, &streamer] {
        let (st, body) = get_as(&s, "/api/users", Some(token)).await;
        assert_eq!(st, 403, "{body}");
    }
    // Who may not list learns nothing from the query either.
    let (st, _) = get_as(&s, "/api/users?role=bogus", None).await;
    assert_eq!(st, 401);
    let (st, _) = get_as(&s, "/api/users?role=bogus", Some(&viewer)).await;
    assert_eq!(st, 403);

    let (st, all) = get_as(&s, "/api/users", Some(&admin)).await;
    assert_eq!(st, 200, "{all}");
    assert_eq!(
        ids(&all),
        vec![
            second_streamer_id.as_str(),
            streamer_id.as_str(),
            viewer_id.as_str(),
            admin_id.as_str()
        ],
        "newest first"
    );
    // Each as an admin sees the account on its own, e-mail included.
    for user in all.as_array().unwrap() {
        let id = user["id"].as_str().unwrap();
        let (st, one) = get_as(&s, &format!("/api/users/{id}"), Some(&admin)).await;
        assert_eq!(st, 200);
        assert_eq!(user, &one);
        assert!(user["email"].as_str().unwrap().ends_with("@example.com"));
        assert!(user.get("password_hash").is_none(), "{user}");
    }

    let (st, streamers) = get_as(&s, "/api/users?role=streamer", Some(&admin)).await;
    assert_eq!(st, 200);
    assert_eq!(
        ids(&streamers),
        vec![second_streamer_id.as_str(), streamer_id.as_str()]
    );
    let (_, admins) = get_as(&s, "/api/users?role=admin", Some(&admin)).await;
    assert_eq!(ids(&admins), vec![admin_id.as_str()]);
    let (_, moderators) = get_as(&s, "/api/users?role=moderator", Some(&admin)).await;
    assert_eq!(ids(&moderators), Vec::<&str>::new());
    // A role given later is what the filter sees.
    let (st, _) = s
        .send(
            s.http
                .put(s.url(&format!("/api/users/{viewer_id}/role")))
                .bearer_auth(&admin)
                .json(&json!({"role": "moderator"})),
        )
        .await;
    assert_eq!(st, 200);
    let (_, moderators) = get_as(&s, "/api/users?role=moderator", Some(&admin)).await;
    assert_eq!(ids(&moderators), vec![viewer_id.as_str()]);
    assert_eq!(moderators[0]["role"], "moderator");

    let (_, page) = get_as(&s, "/api/users?limit=2&offset=1", Some(&admin)).await;
    assert_eq!(
        ids(&page),
        vec![streamer_id.as_str(), viewer_id.as_str()],
        "the second and third newest"
    );

    for (query, field) in [
        ("role=bogus", "role"),
        ("role=", "role"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
    ] {
        let (st, body) = get_as(&s, &format!("/api/users?{query}"), Some(&admin)).await;
        assert_eq!(st, 422, "{query}: {body}");
        assert_eq!(error_locs(&body), vec![vec!["query", field]], "{query}");
    }
    s.stop().await;
}

async fn job_queue_is_listed_to_admins_only(backend: Backend) {
    // Jobs in every state, made straight on the database; the server below runs no workers
    // (transcoding is off), so they stay as they are.
    let dir = tempfile::tempdir().unwrap();
    let Some(shared) = SharedDatabase::new(backend, dir.path()).await else {
        return;
    };
    let db = ferrocast::db::Db::connect(&shared.url).await.unwrap();
    for (id, title) in [
        ("video_first", "First clip"),
        ("video_second", "Second clip"),
    ] {
        ferrocast::videos::store::insert(
            &db,
            &ferrocast::videos::store::NewVideo {
                id: id.into(),
                title: title.into(),
                description: None,
                uploader_id: "user_vod".into(),
                filename: "f.mp4".into(),
                file_path: "f.mp4".into(),
                file_size: 1,
                format: "MP4".into(),
                probe: None,
                category: None,
                tags: vec![],
                is_public: true,
            },
        )
        .await
        .unwrap();
    }
    let params = TranscodeParams {
        profiles: vec!["360p".into()],
        hls: true,
        dash: false,
        thumbnails: true,
    };
    // Oldest first; each claim takes the only job waiting.
    let failed = jobs::enqueue(&db, "video_first", &params, 3).await.unwrap();
    jobs::claim(&db, "w", 60).await.unwrap().unwrap();
    assert!(jobs::fail(&db, &failed.id, "w", "boom").await.unwrap());
    let completed = jobs::enqueue(&db, "video_first", &params, 3).await.unwrap();
    let held = jobs::claim(&db, "w", 60).await.unwrap().unwrap();
    let outputs = serde_json::to_string(&ferrocast::vod::Outputs::default()).unwrap();
    assert!(
        jobs::complete(&db, &held, "w", &outputs, None)
            .await
            .unwrap()
    );
    let cancelled = jobs::enqueue(&db, "video_second", &params, 3)
        .await
        .unwrap();
    assert!(jobs::cancel(&db, &cancelled.id).await.unwrap());
    let running = jobs::enqueue(&db, "video_second", &params, 3)
        .await
        .unwrap();
    jobs::claim(&db, "w", 600).await.unwrap().unwrap();
    let queued = jobs::enqueue(&db, "video_first", &params, 3).await.unwrap();
    db.pool.close().await;

    let s = TestServer::start(
        Backend::Sqlite,
        &[
            ("DATABASE_URL", shared.url.as_str()),
            ("ENABLE_TRANSCODING", "false"),
        ],
    )
    .await
    .unwrap();
    let (admin, _) = register(&s, "root", "viewer").await;
    let (viewer, _) = register(&s, "watcher", "viewer").await;

    let (st, _) = get_as(&s, "/api/jobs", None).await;
    assert_eq!(st, 401);
    let (st, _) = get_as(&s, "/api/jobs", Some(&viewer)).await;
    assert_eq!(st, 403);
    let (st, _) = get_as(&s, "/api/jobs?state=bogus", None).await;
    assert_eq!(st, 401);

    let (st, all) = get_as(&s, "/api/jobs", Some(&admin)).await;
    assert_eq!(st, 200, "{all}");
    assert_eq!(
        ids(&all),
        vec![
            queued.id.as_str(),
            running.id.as_str(),
            cancelled.id.as_str(),
            completed.id.as_str(),
            failed.id.as_str()
        ],
        "newest first"
    );
    let states: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        vec!["queued", "running", "cancelled", "completed", "failed"]
    );
    for job in all.as_array().unwrap() {
        // The Job as it is shown on its own, plus its video's title.
        let id = job["id"].as_str().unwrap();
        let (st, one) = get_as(&s, &format!("/api/jobs/{id}"), Some(&admin)).await;
        assert_eq!(st, 200);
        let mut listed = job.clone();
        let title = listed
            .as_object_mut()
            .unwrap()
            .remove("video_title")
            .unwrap();
        assert_eq!(listed, one);
        let expected = match job["video_id"].as_str().unwrap() {
            "video_first" => "First clip",
            _ => "Second clip",
        };
        assert_eq!(title, expected);
    }

    for (state, id) in [
        ("queued", &queued.id),
        ("running", &running.id),
        ("completed", &completed.id),
        ("failed", &failed.id),
        ("cancelled", &cancelled.id),
    ] {
        let (st, list) = get_as(&s, &format!("/api/jobs?state={state}"), Some(&admin)).await;
        assert_eq!(st, 200, "{list}");
        assert_eq!(ids(&list), vec![id.as_str()], "{state}");
        assert_eq!(list[0]["state"], state);
    }
    let (_, failures) = get_as(&s, "/api/jobs?state=failed", Some(&admin)).await;
    assert_eq!(failures[0]["error"], "boom");
    assert_eq!(failures[0]["params"]["profiles"], json!(["360p"]));

    let (_, page) = get_as(&s, "/api/jobs?limit=2&offset=1", Some(&admin)).await;
    assert_eq!(ids(&page), vec![running.id.as_str(), cancelled.id.as_str()]);

    for (query, field) in [
        ("state=bogus", "state"),
        ("state=Queued", "state"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
    ] {
        let (st, body) = get_as(&s, &format!("/api/jobs?{query}"), Some(&admin)).await;
        assert_eq!(st, 422, "{query}: {body}");
        assert_eq!(error_locs(&body), vec![vec!["query", field]], "{query}");
    }
    s.stop().await;
    shared.drop_database().await;
}
