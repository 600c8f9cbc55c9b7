"""Band style: a bass line and a comping part following the harmony, from a bar pattern decided ahead."""
