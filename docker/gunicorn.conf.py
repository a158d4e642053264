# gunicorn settings for distserver: `gunicorn -c docker/gunicorn.conf.py 'distserver:create_app()'`
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# No credential reaches the access log, whatever the format: the logger class passes
# every atom through distserver.redaction, which replaces the tokens carried in paths
# (/files/<token>, /reset/<token>, /verify/<token>), presigned query parameters
# (X-Amz-*), API tokens and credential headers with "[redacted]".
logger_class = "distserver.access_log.RedactingAccessLogger"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    # What a worker built at start-up (the app, its modules and settings: some 160,000
    # objects) lives as long as the worker. Freezing it takes it out of the cyclic
    # collector's full passes, which otherwise scan all of it while holding the GIL:
    # about 0.1 s during which none of the worker's threads answers.
    import gc

    gc.collect()
    gc.freeze()
