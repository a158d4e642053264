from distserver import create_app

app = create_app()
