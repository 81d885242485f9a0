"""Starts moto's S3 server with fixes the Rust SDK needs, and stops it when its parent dies.

moto 5.2.x names the XML root of a few S3 responses `<OperationResponse>` instead of the element
S3 sends, which the Rust SDK rejects; this renames them before serialising. It also crashes on
GetObjectAcl for keys completed by a multipart upload; those get the private ACL, as in S3.

Usage: moto_server.py PORT [--parent-pid PID]
"""

import argparse
import os
import sys
import threading
import time

from moto.core.serialize import S3Serializer
from moto.s3 import models as s3_models
from moto.s3.responses import S3Response
from moto.server import main as moto_main

ROOTS = {
    "GetBucketVersioningResponse": "VersioningConfiguration",
    "GetBucketNotificationConfigurationResponse": "NotificationConfiguration",
    "ListPartsResponse": "ListPartsResult",
}

_serialize_body = S3Serializer._serialize_body


def _fixed_root(self, body):
    if len(body) == 1:
        ((name, value),) = body.items()
        if name in ROOTS:
            body = {ROOTS[name]: value}
    return _serialize_body(self, body)


S3Serializer._serialize_body = _fixed_root

# Keys completed by a multipart upload have no ACL in moto and GetObjectAcl crashes (HTTP 500);
# S3 gives them the private ACL.
_acl_to_dict = S3Response._acl_to_dict


def _private_when_missing(acl):
    return _acl_to_dict(acl if acl is not None else s3_models.get_canned_acl("private"))


S3Response._acl_to_dict = staticmethod(_private_when_missing)


def _exit_with(parent):
    while True:
        try:
            os.kill(parent, 0)
        except OSError:
            os._exit(0)
        time.sleep(0.5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port")
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args()
    if args.parent_pid:
        threading.Thread(target=_exit_with, args=(args.parent_pid,), daemon=True).start()
    sys.exit(moto_main(["-H", "127.0.0.1", "-p", args.port]))
