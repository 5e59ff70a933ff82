//! The public JSON shapes of the API (the seed's data models) and the closed sets of values
//! (enums) they use. Field names here are the public contract: renaming one breaks clients.

use serde::{Deserialize, Deserializer, Serialize};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The accepted values, for error messages and the OpenAPI document.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| format!("'{}'", v.as_str())).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What a stream or video is about (the seed's "Content Types").
    ContentType {
        LiveStream = "live_stream",
        Recorded = "recorded",
        Webinar = "webinar",
        Conference = "conference",
        Gaming = "gaming",
        Education = "education",
        Entertainment = "entertainment",
    }
);

string_enum!(
    /// A stream's lifecycle: scheduled -> live -> ended.
    StreamStatus {
        Scheduled = "scheduled",
        Live = "live",
        Ended = "ended",
    }
);

string_enum!(
    /// The seed's stream quality options.
    Quality {
        Auto = "auto",
        P360 = "360p",
        P720 = "720p",
        P1080 = "1080p",
        K4 = "4K",
    }
);

string_enum!(
    ProcessingStatus {
        Pending = "pending",
        Processing = "processing",
        Completed = "completed",
        Failed = "failed",
    }
);

string_enum!(
    /// Account roles; each includes the powers of the ones before it where that makes sense
    /// (an admin may do anything, a moderator may moderate chat, a streamer may broadcast).
    Role {
        Viewer = "viewer",
        Streamer = "streamer",
        Moderator = "moderator",
        Admin = "admin",
    }
);

/// Containers an upload may be in, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFormat {
    Mp4,
    Avi,
    Mov,
    Wmv,
    Flv,
    Webm,
    Mkv,
}

impl VideoFormat {
    pub const ALL: &'static [VideoFormat] = &[
        VideoFormat::Mp4,
        VideoFormat::Avi,
        VideoFormat::Mov,
        VideoFormat::Wmv,
        VideoFormat::Flv,
        VideoFormat::Webm,
        VideoFormat::Mkv,
    ];

    pub fn extension(self) -> &'static str {
        match self {
            VideoFormat::Mp4 => "mp4",
            VideoFormat::Avi => "avi",
            VideoFormat::Mov => "mov",
            VideoFormat::Wmv => "wmv",
            VideoFormat::Flv => "flv",
            VideoFormat::Webm => "webm",
            VideoFormat::Mkv => "mkv",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
        Self::ALL.iter().copied().find(|f| f.extension() == ext)
    }

    /// The seed writes formats in capitals ("MP4").
    pub fn label(self) -> String {
        self.extension().to_ascii_uppercase()
    }
}

/// Accepts `true`, `"true"`, `1`, `"1"`, ... the way the seed's Python client sends booleans
/// (its playlist example posts `"is_public": "true"`).
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Int(i64),
        Str(String),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(None),
        Some(B::Bool(b)) => Ok(Some(b)),
        Some(B::Int(0)) => Ok(Some(false)),
        Some(B::Int(1)) => Ok(Some(true)),
        Some(B::Int(_)) => Err(serde::de::Error::custom("expected a boolean")),
        Some(B::Str(s)) => crate::config::parse_bool(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected a boolean")),
    }
}

/// Accepts a number or a string holding one.
pub fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(u32),
        Str(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Int(n)) => Ok(Some(n)),
        Some(N::Str(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a non-negative integer")),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Stream {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub streamer_id: String,
    pub content_type: ContentType,
    pub status: StreamStatus,
    /// Only shown to the stream's owner (and admins): it is the publish secret.
    pub stream_key: Option<String>,
    pub rtmp_url: Option<String>,
    pub hls_url: String,
    pub websocket_url: String,
    pub thumbnail_url: Option<String>,
    pub viewer_count: i64,
    pub max_viewers: i64,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub duration: Option<i64>,
    pub quality: Quality,
    pub is_private: bool,
    /// Always null: the password is stored hashed and never given out.
    pub password: Option<String>,
    pub tags: Vec<String>,
    pub category: Option<String>,
    pub language: String,
    pub created_at: String,
    pub updated_at: String,
    /// Whether publishing this stream records it into a video.
    pub record: bool,
    /// The video its recording became, once the stream ended and the recording was saved.
    pub recording_video_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Video {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub uploader_id: String,
    pub filename: String,
    pub file_path: String,
    pub file_size: i64,
    pub duration: Option<f64>,
    pub format: String,
    pub resolution: Option<String>,
    pub bitrate: Option<i64>,
    pub thumbnail_url: Option<String>,
    pub view_count: i64,
    pub like_count: i64,
    pub dislike_count: i64,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub is_public: bool,
    pub is_processed: bool,
    pub processing_status: ProcessingStatus,
    pub upload_date: String,
    pub created_at: String,
    pub updated_at: String,
    /// `recorded` for a live stream's recording; null for an upload.
    pub content_type: Option<ContentType>,
    /// The live stream a recording came from.
    pub stream_id: Option<String>,
    /// Why processing failed, when it did.
    pub processing_error: Option<String>,
    /// Adaptive streams and the other outputs of processing; null until the video is processed.
    pub hls_url: Option<String>,
    pub dash_url: Option<String>,
    pub preview_url: Option<String>,
    pub thumbnails: Option<Thumbnails>,
    pub renditions: Vec<Rendition>,
}

/// The pictures made from a video, as URLs.
#[derive(Debug, Clone, Serialize)]
pub struct Thumbnails {
    pub poster: String,
    pub card: String,
    pub player: String,
    pub storyboard: Option<String>,
    pub storyboard_vtt: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Video bitrate in kbit/s.
    pub bitrate: u32,
    /// The uploaded video itself, served without re-encoding.
    pub passthrough: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    pub id: String,
    pub stream_id: String,
    pub user_id: Option<String>,
    pub username: String,
    pub message: String,
    pub timestamp: String,
    pub is_deleted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Playlist {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub creator_id: String,
    pub video_ids: Vec<String>,
    pub video_count: usize,
    pub is_public: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamAnalytics {
    pub id: String,
    pub stream_id: String,
    pub timestamp: String,
    pub viewer_count: i64,
    pub bandwidth_usage: f64,
    pub average_quality: String,
    pub chat_messages_count: i64,
    pub likes_count: i64,
    pub shares_count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub is_streamer: bool,
    pub is_verified: bool,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_seed_spelling() {
        for q in Quality::ALL {
            assert_eq!(Quality::parse(q.as_str()), Some(*q));
        }
        assert_eq!(Quality::parse("4K"), Some(Quality::K4));
        assert_eq!(Quality::parse("4k"), None);
        assert_eq!(
            serde_json::to_string(&ContentType::LiveStream).unwrap(),
            "\"live_stream\""
        );
    }

    #[test]
    fn lenient_bool_accepts_python_strings() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "lenient_bool")]
            b: Option<bool>,
        }
        let t: T = serde_json::from_str(r#"{"b":"true"}"#).unwrap();
        assert_eq!(t.b, Some(true));
        let t: T = serde_json::from_str(r#"{"b":false}"#).unwrap();
        assert_eq!(t.b, Some(false));
        let t: T = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(t.b, None);
        assert!(serde_json::from_str::<T>(r#"{"b":"perhaps"}"#).is_err());
    }
}
