// Anchors the precompiled ATen header that torch-using targets reuse.
