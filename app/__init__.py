"""total-service: answers GET /total with the exact sum of the backend's numbers."""
