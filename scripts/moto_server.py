"""Starts moto's S3 server with fixes the Rust SDK needs, and stops it when its parent dies.

moto 5.2.x names the XML root of a few S3 responses `<OperationResponse>` instead of the element
S3 sends, which the Rust SDK rejects; this renames them before serialising. It also crashes on
GetObjectAcl for keys completed by a multipart upload; those get the private ACL, as in S3.
And it honours the conditions AWS S3 honours and moto 5.2 ignores: `x-amz-copy-source-if-match`
on CopyObject and UploadPartCopy, and the write conditions `If-Match` / `If-None-Match: *` on
CopyObject and CompleteMultipartUpload (412 PreconditionFailed), so conditional writes can be
tested against a real server; DeleteObject's `If-Match: *` (any current object) is honoured too
(moto 5.2 compares `*` as an ETag). ListObjectVersions honours `encoding-type=url` (moto 5.2 ignores
it, and a key with a control character then breaks the XML), as ListObjectsV2 already does,
and lists each key's versions and delete markers in one sequence in the key's stack order, as S3
does (moto lists every version, then every delete marker).
An object completed by a multipart upload reports the time its upload was initiated as its
Last-Modified, as S3 does (moto reports completion). CompleteMultipartUpload checks the
full-object checksum it is given (CRC32, CRC32C, CRC64NVME) against the assembled bytes and
answers BadDigest when they differ, as S3 does (moto ignores it). GetObjectRetention answers the
version's retention (moto answers the object's bytes), and CopyObject with Object Lock headers
needs no Content-MD5 (moto asks for one, as for an upload with a body). HeadObject on a delete
marker answers its Last-Modified, as S3 does since 2023 (moto leaves it out). CreateMultipartUpload
refuses a full-object SHA-1 / SHA-256 checksum (400 InvalidRequest: S3 keeps full-object checksums
of uploads only for the CRCs), and HeadObject with ChecksumMode answers the checksum's type and a
composite value's `-N`, as S3 does (moto accepts the one and leaves out the other); UploadPartCopy
into an upload with a checksum algorithm answers the part's checksum, as S3 does (moto: none).

For tests only, with MOTO_RACE_BEFORE_WRITES=1 in its environment, the first CopyObject or
DeleteObject aimed at a key of a bucket named `race-*` finds a same-bytes write with other
metadata made just before it (a race a test cannot time against a real server); with
MOTO_RACE_BEFORE_WRITES=delete, a delete made just before it (a delete marker on top).

With `--tls DIR` it serves HTTPS with a certificate for 127.0.0.1 signed by a CA made for the
run, whose certificate it writes to DIR/ca.pem (for SSL_CERT_FILE).

Usage: moto_server.py PORT [--parent-pid PID] [--tls DIR]
"""

import argparse
import html
import os
import re
import sys
import threading
import time

from urllib.parse import parse_qs, quote, unquote, urlparse

from moto.core.compat import HAS_CRT
from moto.core.serialize import S3Serializer
from moto.s3 import exceptions as s3_exceptions
from moto.s3 import models as s3_models
from moto.s3.responses import S3Response
from moto.s3.utils import compute_checksum
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


def _etag_is(header, etag):
    return header.replace('"', "") == etag.replace('"', "")


def _source_of(response):
    source = response.headers.get("x-amz-copy-source")
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    parsed = urlparse(source)
    bucket, key = unquote(parsed.path).lstrip("/").split("/", 1)
    version = parse_qs(parsed.query).get("versionId", [None])[0]
    return response.backend.get_object(bucket, key, version_id=version)


def _check_copy_source(response):
    wanted = response.headers.get("x-amz-copy-source-if-match")
    if wanted is None:
        return
    source = _source_of(response)
    if source is not None and not _etag_is(wanted, source.etag):
        raise s3_exceptions.PreconditionFailed("x-amz-copy-source-If-Match")


def _check_write(response, key_name):
    """If-Match / If-None-Match: * against the destination key's current object, as S3 does."""
    if_match = response.headers.get("If-Match")
    if_none_match = response.headers.get("If-None-Match")
    if if_match is None and if_none_match != "*":
        return
    current = response.backend.get_object(response.bucket_name, key_name)
    if if_match is not None:
        if current is None:
            raise s3_exceptions.MissingKey(key=key_name)
        if not _etag_is(if_match, current.etag):
            raise s3_exceptions.PreconditionFailed("If-Match")
    if if_none_match == "*" and current is not None:
        raise s3_exceptions.PreconditionFailed("If-None-Match")


_copy_object = S3Response.copy_object


_RACED = set()


def _racer_slips_in(response, key_name):
    """A test hook, on only with MOTO_RACE_BEFORE_WRITES=1: the first CopyObject or DeleteObject
    aimed at a key of a bucket named `race-*` finds that another writer got there first, with
    the same bytes (so the same ETag) and other metadata: the race a write condition on the ETag
    cannot see, which a test cannot time against a real server."""
    mode = os.environ.get("MOTO_RACE_BEFORE_WRITES")
    if mode not in ("1", "delete"):
        return
    bucket = response.bucket_name
    if not bucket.startswith("race-") or (bucket, key_name) in _RACED:
        return
    current = response.backend.get_object(bucket, key_name)
    if current is None:
        return
    _RACED.add((bucket, key_name))
    if mode == "delete":
        response.backend.delete_object(bucket, key_name)
        return
    racer = response.backend.put_object(bucket, key_name, current.value)
    racer.set_metadata({"x-amz-meta-racer": "slipped-in"})


def _conditional_copy(self):
    _racer_slips_in(self, self.parse_key_name())
    _check_copy_source(self)
    _check_write(self, self.parse_key_name())
    return _copy_object(self)


S3Response.copy_object = _conditional_copy

_upload_part_copy = S3Response.upload_part_copy


def _pinned_part_copy(self):
    _check_copy_source(self)
    return _upload_part_copy(self)


S3Response.upload_part_copy = _pinned_part_copy

# UploadPartCopy into an upload created with a checksum algorithm: S3 answers the part's checksum
# in that algorithm (CopyPartResult), which CompleteMultipartUpload repeats; moto 5.2 answers
# none. CRC64NVME only where moto computes it (with awscrt; else it falls back to CRC32).
_part_checksums = {"CRC32", "CRC32C", "SHA1", "SHA256"} | ({"CRC64NVME"} if HAS_CRT else set())


def _part_copy_with_checksum(self):
    status, headers, body = _pinned_part_copy(self)
    multipart = self.backend.get_bucket(self.bucket_name).multiparts.get(self._get_param("uploadId"))
    algorithm = (multipart.metadata.get("x-amz-checksum-algorithm") or "").upper() if multipart else ""
    part = multipart.parts.get(self._get_int_param("partNumber")) if multipart else None
    if status == 200 and part is not None and algorithm in _part_checksums:
        value = compute_checksum(part.value, algorithm).decode()
        text = body.decode() if isinstance(body, bytes) else body
        body = text.replace("</CopyPartResult>",
                            f"<Checksum{algorithm}>{value}</Checksum{algorithm}></CopyPartResult>")
        headers["content-length"] = str(len(body.encode()))
    return status, headers, body


S3Response.upload_part_copy = _part_copy_with_checksum

_delete_object = S3Response.delete_object


def _delete_if_any(self):
    """DeleteObject with `If-Match: *`: delete when the key has a current object (a delete
    marker is none), as S3 does; moto 5.2 compares `*` as an ETag and always refuses."""
    if not self._get_param("versionId"):
        _racer_slips_in(self, self.parse_key_name())
    if self.headers.get("If-Match") == "*" and not self._get_param("versionId"):
        from werkzeug.datastructures import Headers

        if self.backend.get_object(self.bucket_name, self.parse_key_name()) is None:
            raise s3_exceptions.MissingKey(key=self.parse_key_name())
        headers = Headers(list(self.headers.items()))
        headers.remove("If-Match")
        self.headers = headers
    return _delete_object(self)


S3Response.delete_object = _delete_if_any

_key_response_post = S3Response._key_response_post


class _BadDigest(s3_exceptions.S3ClientError):
    code = "BadDigest"

    def __init__(self):
        super().__init__("The checksum you specified did not match the object's")


# The full-object checksum a CompleteMultipartUpload names, checked against the assembled bytes
# (S3 refuses the upload with BadDigest; moto 5.2 ignores the header). One request at a time.
_expected_checksum = threading.local()


class _InvalidRequest(s3_exceptions.S3ClientError):
    code = "InvalidRequest"

    def __init__(self, message):
        super().__init__("InvalidRequest", message)


def _check_checksum_type(headers):
    """CreateMultipartUpload: a full-object checksum of a multipart upload is a CRC's only;
    S3 refuses SHA-1 and SHA-256 as FULL_OBJECT (400 InvalidRequest), moto 5.2 accepts them."""
    algorithm = (headers.get("x-amz-checksum-algorithm") or "").upper()
    if (headers.get("x-amz-checksum-type") or "").upper() == "FULL_OBJECT" and algorithm in (
            "SHA1", "SHA256"):
        raise _InvalidRequest(
            f"The FULL_OBJECT checksum type cannot be used with the {algorithm.lower()} "
            "checksum algorithm.")


def _conditional_complete(self, request, body, bucket_name, query, key_name):
    _expected_checksum.value = None
    if "uploads" in query:
        _check_checksum_type(self.headers)
    if query.get("uploadId"):
        existing = self.backend.get_object(bucket_name, key_name)
        done = existing is not None and existing.multipart and existing.multipart.id == query["uploadId"][0]
        if not done:  # a repeated Complete of the same upload is answered as before
            _check_write(self, key_name)
            for algorithm in ("crc32", "crc32c", "crc64nvme"):
                value = self.headers.get(f"x-amz-checksum-{algorithm}")
                if value:
                    _expected_checksum.value = (algorithm.upper(), value)
    try:
        return _key_response_post(self, request, body, bucket_name, query, key_name)
    finally:
        _expected_checksum.value = None


S3Response._key_response_post = _conditional_complete


_serialized = S3Response.serialized


def _url_encoded_versions(self, action_result):
    """ListObjectVersions with `encoding-type=url`: keys and key markers URL-encoded, as S3 does."""
    result = action_result.result
    if (self.data.get("Action") == "ListObjectVersions" and isinstance(result, dict)
            and self.querystring.get("encoding-type", [None])[0] == "url"):
        for entry in result.get("Versions", []) + result.get("DeleteMarkers", []):
            entry["Key"] = quote(entry["Key"])
        for name in ("KeyMarker", "NextKeyMarker", "Prefix"):
            if result.get(name):
                result[name] = quote(result[name])
        result["EncodingType"] = "url"
    served = _serialized(self, action_result)
    if self.data.get("Action") == "ListObjectVersions" and isinstance(result, dict):
        return _in_stack_order(self, served)
    return served


_ENTRY = re.compile(r"<(Version|DeleteMarker)>.*?</\1>", re.S)
_FIELD = re.compile(r"<(Key|VersionId)>(.*?)</\1>", re.S)


def _in_stack_order(self, served):
    """ListObjectVersions lists each key's versions and delete markers in one sequence, newest
    first in the key's stack order; moto 5.2 writes every version first, then every delete
    marker (and sorts by time, so same-second entries lose their order). The entries are put
    back in S3's order, taken from the key's stack."""
    status, headers, body = served
    text = body.decode() if isinstance(body, bytes) else body
    found = list(_ENTRY.finditer(text))
    if not found:
        return served
    start, end = found[0].start(), found[-1].end()
    between = _ENTRY.sub("", text[start:end])
    if between.strip():
        return served
    bucket = self.backend.get_bucket(self.bucket_name)
    encoded = self.querystring.get("encoding-type", [None])[0] == "url"

    def place(match):
        fields = dict(_FIELD.findall(match.group(0)))
        key = fields.get("Key", "")
        key = unquote(key) if encoded else html.unescape(key)
        stack = ["null" if v.version_id is None else str(v.version_id)
                 for v in bucket.keys.getlist(key, [])]
        wanted = fields.get("VersionId", "null")
        depth = stack[::-1].index(wanted) if wanted in stack else len(stack)
        return (key, depth)

    ordered = sorted(found, key=place)
    text = text[:start] + "".join(m.group(0) for m in ordered) + text[end:]
    return status, headers, text.encode() if isinstance(body, bytes) else text


S3Response.serialized = _url_encoded_versions


# S3 stamps an object completed by a multipart upload with the time the upload was *initiated*,
# while versions still stack in the order uploads complete; moto stamps completion. Objects
# report their upload's initiation (moto keeps ordering its versions by completion).
_multipart_init = s3_models.FakeMultipart.__init__


def _stamped_init(self, *args, **kwargs):
    _multipart_init(self, *args, **kwargs)
    self.initiated = s3_models.utcnow()


s3_models.FakeMultipart.__init__ = _stamped_init

_complete_upload = s3_models.S3Backend.complete_multipart_upload


def _complete_stamped(self, bucket_name, multipart_id, body):
    multipart = self.get_bucket(bucket_name).multiparts.get(multipart_id)
    key = _complete_upload(self, bucket_name, multipart_id, body)
    if key is not None and multipart is not None:
        key.reported_modified = multipart.initiated
    return key


s3_models.S3Backend.complete_multipart_upload = _complete_stamped

_complete_parts = s3_models.FakeMultipart.complete


def _complete_checked(self, body):
    value, etag, checksum = _complete_parts(self, body)
    expected = getattr(_expected_checksum, "value", None)
    if expected and checksum and checksum[0] == "FULL_OBJECT":
        algorithm = self.metadata.get("x-amz-checksum-algorithm") or "CRC64NVME"
        if algorithm.upper() == expected[0] and checksum[1] != expected[1]:
            raise _BadDigest()
    return value, etag, checksum


s3_models.FakeMultipart.complete = _complete_checked


def _reported_modified(key):
    return getattr(key, "reported_modified", None) or key.last_modified


s3_models.FakeKey.last_modified_ISO8601 = property(
    lambda key: s3_models.iso_8601_datetime_without_milliseconds_s3(_reported_modified(key)))
s3_models.FakeKey.last_modified_RFC1123 = property(
    lambda key: s3_models.rfc_1123_datetime(_reported_modified(key)))

# HeadObject on a delete marker: S3 answers its Last-Modified (since September 2023) beside
# `x-amz-delete-marker`, on the 404 for a current delete marker and the 405 for one named by
# version; moto 5.2 leaves it out. The one order of writes places a delete marker by it.
_head_object = S3Response.head_object


def _head_with_marker_time(self, bucket_name, query, key_name, headers):
    status, response_headers, body = _head_object(self, bucket_name, query, key_name, headers)
    if status == 200 and headers.get("x-amz-checksum-mode") == "ENABLED":
        _checksum_as_s3_heads_it(self, bucket_name, query, key_name, response_headers)
    if response_headers.get("x-amz-delete-marker") == "true":
        wanted = response_headers.get("x-amz-version-id")
        bucket = self.backend.get_bucket(bucket_name)
        for version in bucket.keys.getlist(key_name, []):
            if isinstance(version, s3_models.FakeDeleteMarker) and version.version_id == wanted:
                response_headers["last-modified"] = s3_models.rfc_1123_datetime(
                    version.last_modified)
    return status, response_headers, body


S3Response.head_object = _head_with_marker_time


def _checksum_as_s3_heads_it(self, bucket_name, query, key_name, response_headers):
    """HeadObject with ChecksumMode: S3 answers the checksum's type, and a composite value with
    its part count (`-N`), as GetObject does; moto 5.2's HEAD leaves out both, so a composite
    checksum reads there as a full-object one."""
    if query.get("partNumber"):
        return
    version_id = query.get("versionId", [None])[0]
    key = self.backend.head_object(bucket_name, key_name, version_id=version_id)
    if key is None or not key.checksum_algorithm or not key.checksum_type:
        return
    value = key.checksum_value
    if key.checksum_type == "COMPOSITE":
        value = f"{value}-{key.checksum_parts}"
    response_headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = value
    response_headers["x-amz-checksum-type"] = key.checksum_type

# GetObjectRetention: moto 5.2 answers the object itself. Answer the version's retention, or
# NoSuchObjectLockConfiguration when it has none, as S3 does.
_key_response_get = S3Response._key_response_get


def _retention_get(self, query, key_name):
    if "retention" not in query:
        return _key_response_get(self, query, key_name)
    key, _ = self._get_key()
    headers = {"x-amz-version-id": key.version_id} if key.version_id != "null" else {}
    if not key.lock_mode:
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchObjectLockConfiguration"
                "</Code><Message>The specified object does not have a ObjectLock configuration"
                "</Message></Error>")
        return 404, headers, body
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            f"<Mode>{key.lock_mode}</Mode><RetainUntilDate>{key.lock_until}</RetainUntilDate>"
            "</Retention>")
    return 200, headers, body


S3Response._key_response_get = _retention_get

# CopyObject carrying Object Lock headers: moto 5.2 demands Content-MD5 or a checksum header, as
# S3 does for uploads with a body; a copy has no body and S3 asks for neither.
_key_response_put = S3Response._key_response_put


def _lock_copy_put(self, query, key_name):
    subresource = any(q in query for q in ("uploadId", "retention", "legal-hold", "acl", "tagging"))
    if "x-amz-copy-source" in self.headers and not subresource:
        self._set_action("KEY", "PUT", query)
        self._authenticate_and_authorize_s3_action(bucket_name=self.bucket_name, key_name=key_name)
        return self.copy_object()
    return _key_response_put(self, query, key_name)


S3Response._key_response_put = _lock_copy_put

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
