-- Image bytes live in files beside the database (bot/storage/blobs.py), written before the
-- row naming them commits; data_file is the file's name. The old BLOB columns are emptied
-- (their bytes moved to files) when the store opens (bot/storage/images.py).
ALTER TABLE job_references ADD COLUMN data_file TEXT;
ALTER TABLE job_results ADD COLUMN data_file TEXT;
