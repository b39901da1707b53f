"""archc serve: the local web playground (see docs/serve.md)."""
