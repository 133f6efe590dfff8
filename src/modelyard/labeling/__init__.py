"""Image labeling: requests, image uploads, QC (duplicates, AI-generated evidence), labeler tasks."""
