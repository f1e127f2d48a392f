"""Server moderation policy: what a server allows, independent of Discord and storage."""
