from distserver.cli import main

main()
