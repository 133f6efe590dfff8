"""The prediction platform's built-in business models (issue 11): declared once, trained by the platform,
registered in the registry, served by the prediction pipeline. ``service.GalleryService`` is the entry point."""
