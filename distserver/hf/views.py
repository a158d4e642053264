"""Routes of the Hugging Face door."""
