#!/usr/bin/env python
from simple_analytics.cli import main

if __name__ == "__main__":
    main()
