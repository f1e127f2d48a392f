"""Image bytes: recognising them by content, fetching them safely, fitting them to limits."""
