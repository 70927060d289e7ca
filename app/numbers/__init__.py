"""The numbers side: fetching the backend's list, parsing it and summing it exactly. No Quart here."""
