from gwops.cli.main import main

main()
