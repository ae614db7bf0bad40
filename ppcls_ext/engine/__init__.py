"""Training engine reading PaddleClas configs: data, losses, optimizer, metrics, loop."""
