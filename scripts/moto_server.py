"""Starts moto's S3 server with fixes the Rust SDK needs, and stops it when its parent dies.

moto 5.2.x names the XML root of a few S3 responses `<OperationResponse>` instead of the element
S3 sends, which the Rust SDK rejects; this renames them before serialising. It also crashes on
GetObjectAcl for keys completed by a multipart upload; those get the private ACL, as in S3.

With `--tls DIR` it serves HTTPS with a certificate for 127.0.0.1 signed by a CA made for the
run, whose certificate it writes to DIR/ca.pem (for SSL_CERT_FILE).

Usage: moto_server.py PORT [--parent-pid PID] [--tls DIR]
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


def _certificates(folder):
    """A CA and a leaf certificate for 127.0.0.1 it signs: (leaf cert path, leaf key path)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, signer, ca):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("s3-replicator test CA", "s3-replicator test CA", ca_key, ca_key, True)
    leaf = cert("127.0.0.1", "s3-replicator test CA", leaf_key, ca_key, False)
    pem = serialization.Encoding.PEM
    paths = [os.path.join(folder, name) for name in ("ca.pem", "leaf.pem", "leaf.key")]
    with open(paths[1], "wb") as f:
        f.write(leaf.public_bytes(pem))
    with open(paths[2], "wb") as f:
        f.write(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    # Written last: its presence says the server is about to start.
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(pem))
    return paths[1], paths[2]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port")
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--tls", metavar="DIR")
    args = parser.parse_args()
    if args.parent_pid:
        threading.Thread(target=_exit_with, args=(args.parent_pid,), daemon=True).start()
    argv = ["-H", "127.0.0.1", "-p", args.port]
    if args.tls:
        cert, key = _certificates(args.tls)
        argv += ["-c", cert, "-k", key]
    sys.exit(moto_main(argv))
