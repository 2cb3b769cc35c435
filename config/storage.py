"""Static files for production: hashed names, compressed, with ES module imports rewritten."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ParleyStaticStorage(CompressedManifestStaticFilesStorage):
    # Our scripts are ES modules that import each other; their imports get the hashed names too,
    # so every file can be cached forever.
    support_js_module_import_aggregation = True
