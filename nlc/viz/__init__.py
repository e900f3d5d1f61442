"""Pictures of a model: the level graph, the frequency spectrum and the update timeline."""
