"""webexport: compile a pyml model ahead of time into a web bundle (WGSL kernels + JS runtime + weights)."""
