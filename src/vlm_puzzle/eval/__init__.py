"""Development benchmarks on third-party puzzle images: loaders and their ground truth."""
