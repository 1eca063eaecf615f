"""The pipelined model's stages (issue 13 part 6): preprocess and postprocess services around
the model servers' inference, each its own process, so a slow stage is its own hop in a trace."""
