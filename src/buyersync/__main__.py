from buyersync.cli.main import main

main()
