"""Networks: stacked MLPs and CNNs, their optimizers, the trainer and the extraction of neural codes (torch)."""
