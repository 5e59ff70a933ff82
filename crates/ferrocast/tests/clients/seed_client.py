import requests
import asyncio
import websockets
import json

# Create a stream
stream_data = {
    "title": "Live Coding Session",
    "description": "Building a web application live",
    "streamer_id": "streamer_123",
    "content_type": "education",
    "category": "Technology",
    "tags": ["coding", "web", "live"],
    "max_viewers": 500
}

response = requests.post("http://localhost:8000/api/streams", json=stream_data)
stream = response.json()
print(f"Created stream: {stream['id']}")

# Start the stream
response = requests.post(f"http://localhost:8000/api/streams/{stream['id']}/start?streamer_id=streamer_123")
print(f"Stream started: {response.json()}")

# Upload a video
files = {"file": open("my_video.mp4", "rb")}
data = {
    "title": "My Tutorial Video",
    "description": "Learn how to build web apps",
    "uploader_id": "user_123",
    "category": "Education",
    "tags": "tutorial,web,development",
    "is_public": "true"
}

response = requests.post("http://localhost:8000/api/videos/upload", files=files, data=data)
video = response.json()
print(f"Uploaded video: {video['id']}")

# Get live streams
response = requests.get("http://localhost:8000/api/streams?status=live")
live_streams = response.json()

print("Live streams:")
for stream in live_streams:
    print(f"  {stream['title']}: {stream['viewer_count']} viewers")

# Create a playlist
playlist_data = {
    "name": "My Web Development Series",
    "description": "Collection of web development tutorials",
    "creator_id": "user_123",
    "video_ids": [video['id']],
    "is_public": "true"
}

response = requests.post("http://localhost:8000/api/playlists", json=playlist_data)
playlist = response.json()
print(f"Created playlist: {playlist['id']}")

# WebSocket client for live stream
async def stream_client():
    uri = f"ws://localhost:8000/ws/{stream['id']}"
    async with websockets.connect(uri) as websocket:
        print(f"Connected to stream: {stream['title']}")
        
        # Listen for messages
        while True:
            message = await websocket.recv()
            data = json.loads(message)
            
            if data['type'] == 'stream_started':
                print(f"Stream started at {data['timestamp']}")
            elif data['type'] == 'viewer_count_update':
                print(f"Current viewers: {data['viewer_count']}")
            elif data['type'] == 'chat_message':
                msg = data['message']
                print(f"Chat - {msg['username']}: {msg['message']}")
            elif data['type'] == 'pong':
                print("Connection healthy")

# Run WebSocket client
asyncio.run(stream_client())
