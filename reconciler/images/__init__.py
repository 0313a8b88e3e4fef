"""Images: what a service runs, from the reference in desired state to the digest in UserData.

- ``reference``: THE image reference grammar (parse, check, render ``repository@digest``). Pure.
- ``userdata``: UserData templates: check them, render them with a pinned image. Pure.
- ``description``: the description we write on a launch template version, and reading it. Pure.
- ``scripts``: THE reader of which image a UserData script or launch template version runs. Pure.
- ``resolver``: tags to digests (``ImageResolver``), through ECR or ``registry``.
- ``registry``: the OCI distribution API client; ``credentials``: docker's credentials and the
  challenges registries send.

This package imports nothing on purpose: the pure modules are used by ``pipeline.diff``, which
must not load the registry client's HTTP stack by importing the package.
"""
