"""What the tests share: paths, capture processes, kernel-state checks, corpora. Tests import
from here, never from one another."""
