from simple_analytics.cli import main

main()
