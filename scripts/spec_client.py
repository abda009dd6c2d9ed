#!/usr/bin/env python3
"""A third-party Personio API v2 client, written from Personio's published specs only.

It knows nothing of this project: the Python standard library (urllib, json), the endpoints and
fields of the official specs (internal/personio/personiotest/testdata/personio-v2), nothing else.
The integration stage runs it against the simulator to show that a client written the way a new
user would write one works there:

    spec_client.py --base-url http://127.0.0.1:8080 --client-id sim-client --client-secret sim-secret

1. POST /v2/auth/token (form-encoded client credentials) for a bearer token;
2. GET /v2/persons?limit=N and follow _meta.links.next.href until a page has none;
3. for every person, follow _meta.links.employments.href (and its next links);
4. fetch the first profile_picture.url and check that it is a PNG.

It prints one JSON line per person, in listing order:

    {"id": "1000017", "employments": ["<uuid>", ...], "picture": "http://.../profile-picture"}

and a last line {"persons": N, "pages": P, "employment_requests": E}. A reply that breaks the
spec (a status other than 200, a person without _meta.links.employments.href, an employment of
another person, a picture that is not a PNG) ends it with exit status 1 and a message on stderr.
"""

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class SpecError(Exception):
    pass


def request(url, token=None, data=None):
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    body = None
    if data is not None:
        body = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as e:
        raise SpecError("%s %s: HTTP %d" % (req.get_method(), url, e.code)) from None


def get_json(url, token):
    status, ctype, body = request(url, token)
    if status != 200 or not ctype.startswith("application/json"):
        raise SpecError("GET %s: status %d, content type %r" % (url, status, ctype))
    return json.loads(body)


def token(base, client_id, secret):
    status, _, body = request(base + "/v2/auth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    reply = json.loads(body)
    if status != 200 or reply.get("token_type") != "Bearer" or not reply.get("access_token"):
        raise SpecError("token: unexpected reply %r" % sorted(reply))
    return reply["access_token"]


def pages(url, tok, counter):
    """Yields the _data of every page, following _meta.links.next.href."""
    seen = set()
    while url:
        if url in seen:
            raise SpecError("next link repeats %s" % url)
        seen.add(url)
        page = get_json(url, tok)
        counter[0] += 1
        if not isinstance(page.get("_data"), list):
            raise SpecError("GET %s: no _data list" % url)
        yield page["_data"]
        url = (((page.get("_meta") or {}).get("links") or {}).get("next") or {}).get("href")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args(argv)
    base = args.base_url.rstrip("/")
    tok = token(base, args.client_id, args.client_secret)

    person_pages, emp_requests, persons, picture = [0], [0], 0, None
    for data in pages(base + "/v2/persons?limit=%d" % args.limit, tok, person_pages):
        for person in data:
            pid = person.get("id")
            href = (((person.get("_meta") or {}).get("links") or {}).get("employments") or {}).get("href")
            if not pid or not href:
                raise SpecError("person %r has no _meta.links.employments.href" % pid)
            emps = []
            for emp_data in pages(href, tok, emp_requests):
                for e in emp_data:
                    if (e.get("person") or {}).get("id") != pid:
                        raise SpecError("employments of person %s list one of %r" % (pid, e.get("person")))
                    emps.append(e.get("id"))
            url = (person.get("profile_picture") or {}).get("url")
            if url and picture is None:
                status, ctype, body = request(url, tok)
                if status != 200 or not body.startswith(PNG_SIGNATURE):
                    raise SpecError("picture %s: status %d, %r, not a PNG" % (url, status, ctype))
                picture = url
            print(json.dumps({"id": pid, "employments": emps, "picture": url}))
            persons += 1
    print(json.dumps({"persons": persons, "pages": person_pages[0], "employment_requests": emp_requests[0]}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (SpecError, ValueError, OSError) as e:
        print("spec_client: %s" % e, file=sys.stderr)
        sys.exit(1)
