-- Where the job's progress is shown and how large an upload its channel accepts.
ALTER TABLE jobs ADD COLUMN status_message_id TEXT;
ALTER TABLE jobs ADD COLUMN upload_limit INTEGER;
