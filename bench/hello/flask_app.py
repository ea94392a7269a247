# The hello-world Flask app for gunicorn (sync worker, 2 workers), from Debian's packages:
#   /usr/bin/python3 -m gunicorn -k sync -w 2 -b 127.0.0.1:PORT --chdir bench/hello flask_app:app
from flask import Flask, Response

app = Flask(__name__)


@app.route("/")
def hello():
    return Response("Hello, World!\n", mimetype="text/plain")
