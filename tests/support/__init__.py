"""What the tests share: real peers on loopback, builders of input files, readers of samples."""
