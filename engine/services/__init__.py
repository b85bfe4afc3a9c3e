"""The engine's use cases: plain functions taking an EngineContext; one transaction each."""
