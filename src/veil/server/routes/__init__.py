"""The service's routers, one per resource: the page, photos in one request, jobs."""
