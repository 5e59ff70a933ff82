// The API's models as the app reads them (docs/API.md).

export type Role = 'viewer' | 'streamer' | 'moderator' | 'admin';

export interface User {
  id: string;
  username: string;
  email?: string | null;
  role: Role;
  bio?: string | null;
  avatar_url?: string | null;
  created_at?: string;
}

export interface SessionInfo {
  user: User | null;
  csrf_token: string | null;
}

export type StreamStatus = 'scheduled' | 'live' | 'ended';

export interface Stream {
  id: string;
  title: string;
  description: string | null;
  streamer_id: string;
  content_type: string;
  status: StreamStatus;
  stream_key: string | null;
  rtmp_url: string | null;
  hls_url: string;
  websocket_url: string;
  thumbnail_url: string | null;
  viewer_count: number;
  max_viewers: number;
  start_time: string | null;
  end_time: string | null;
  duration: number | null;
  quality: string;
  is_private: boolean;
  tags: string[];
  category: string | null;
  language: string | null;
  created_at: string;
  updated_at: string;
  record: boolean;
  recording_video_id: string | null;
}

export interface Thumbnails {
  poster: string;
  card: string;
  player: string;
  storyboard: string | null;
  storyboard_vtt: string | null;
}

export interface Rendition {
  name: string;
  width: number;
  height: number;
  bitrate: number;
  passthrough?: boolean;
}

export type ProcessingStatus = 'pending' | 'processing' | 'completed' | 'failed';

export interface Video {
  id: string;
  title: string;
  description: string | null;
  uploader_id: string;
  filename: string;
  file_size: number;
  duration: number | null;
  format: string;
  resolution: string | null;
  thumbnail_url: string | null;
  view_count: number;
  like_count: number;
  dislike_count: number;
  category: string | null;
  tags: string[];
  is_public: boolean;
  is_processed: boolean;
  processing_status: ProcessingStatus;
  processing_error?: string | null;
  upload_date: string;
  created_at: string;
  content_type: string | null;
  stream_id: string | null;
  hls_url?: string | null;
  dash_url?: string | null;
  preview_url?: string | null;
  thumbnails?: Thumbnails | null;
  renditions?: Rendition[];
}

export interface ChatMessage {
  id: string;
  stream_id: string;
  user_id: string | null;
  username: string;
  message: string;
  timestamp: string;
  is_deleted: boolean;
}

export interface Playlist {
  id: string;
  name: string;
  description: string | null;
  creator_id: string;
  video_ids: string[];
  video_count: number;
  is_public: boolean;
  created_at: string;
  updated_at: string;
}

export interface Job {
  id: string;
  video_id: string;
  kind: string;
  state: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  progress: number;
  eta_seconds: number | null;
  attempts: number;
  max_attempts: number;
  error: string | null;
  params: { profiles: string[]; generateHLS: boolean; generateDASH: boolean; generateThumbnails: boolean };
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

export interface StreamSample {
  timestamp: string;
  viewer_count: number;
  chat_messages_count: number;
  bandwidth_usage: number;
  [key: string]: unknown;
}

export interface Stats {
  total_streams: number;
  live_streams: number;
  scheduled_streams: number;
  ended_streams: number;
  total_videos: number;
  processed_videos: number;
  total_video_views: number;
  total_likes: number;
  total_storage_bytes: number;
  total_chat_messages: number;
  total_playlists: number;
  total_users: number;
  current_viewers: number;
  websocket_connections: number;
  queued_jobs: number;
  running_jobs: number;
  failed_jobs: number;
  live_bandwidth_kbps: number;
  timestamp: string;
}

/** `GET /api/streams/{id}/health`: what the ingest sees of a live stream. */
export interface StreamHealth {
  stream_id: string;
  live: boolean;
  uptime_seconds: number | null;
  ingest_kbps: number | null;
  fps: number | null;
  keyframe_interval_seconds: number | null;
  video: { codec: string | null; width: number | null; height: number | null } | null;
  audio: { codec: string | null; sample_rate?: number | null; channels?: number | null; [key: string]: unknown } | null;
  renditions: { name: string; width: number | null; height: number | null; bandwidth: number | null }[];
  viewers: number | null;
}

/** A job in the admin's queue listing, which names the video it works on. */
export interface QueuedJob extends Job {
  video_title?: string | null;
}
