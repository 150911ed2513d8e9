from edgefusion.cli import main

main()
