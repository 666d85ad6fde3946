"""PC training at CIFAR scale, data-parallel under torchrun: data (cifar), training (ddp), command line (cli)."""
