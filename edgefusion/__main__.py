from edgefusion.main import main

main()
