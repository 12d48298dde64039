import os

import django
from django.core.handlers.wsgi import WSGIHandler

from ade.lanes import ApiLane

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ade.settings")
django.setup(set_prefix=False)


class Handler(ApiLane, WSGIHandler):
    pass


application = Handler()
