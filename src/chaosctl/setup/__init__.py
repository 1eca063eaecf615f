"""Installing chaosctl like a tool: the package data it ships (scenarios, the reference
System, schemas, dashboards, the Jaeger build module), `chaosctl setup` (the external
components, into a per-user tools folder) and `chaosctl --version`."""
