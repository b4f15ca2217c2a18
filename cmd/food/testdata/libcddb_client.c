/*
 * A CD player's lookup with libcddb (Debian's libcddb2), unchanged: query
 * the server for a table of contents, print every match, read the first
 * and print what a player shows. Used by the end-to-end test of food's
 * proxy.
 *
 *   libcddb_client http|cddbp HOST PORT LENGTH_SECONDS OFFSET...
 *
 * Exit status: 0 when the read succeeded, 2 when nothing matched, 1 on an
 * error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cddb/cddb.h>

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: %s http|cddbp HOST PORT LENGTH OFFSET...\n", argv[0]);
		return 1;
	}
	cddb_conn_t *conn = cddb_new();
	if (conn == NULL) {
		fprintf(stderr, "cddb_new failed\n");
		return 1;
	}
	cddb_cache_disable(conn);
	cddb_set_server_name(conn, argv[2]);
	cddb_set_server_port(conn, atoi(argv[3]));
	cddb_set_email_address(conn, "test@example.org");
	if (strcmp(argv[1], "http") == 0) {
		cddb_http_enable(conn);
		cddb_set_http_path_query(conn, "/~cddb/cddb.cgi");
	}
	cddb_disc_t *disc = cddb_disc_new();
	cddb_disc_set_length(disc, atoi(argv[4]));
	for (int i = 5; i < argc; i++) {
		cddb_track_t *t = cddb_track_new();
		cddb_track_set_frame_offset(t, atoi(argv[i]));
		cddb_disc_add_track(disc, t);
	}
	if (!cddb_disc_calc_discid(disc)) {
		fprintf(stderr, "cannot compute the disc ID\n");
		return 1;
	}
	printf("discid %08x\n", cddb_disc_get_discid(disc));
	int n = cddb_query(conn, disc);
	if (n < 0) {
		fprintf(stderr, "query failed: %s\n", cddb_error_str(cddb_errno(conn)));
		return 1;
	}
	printf("matches %d\n", n);
	if (n == 0)
		return 2;
	cddb_disc_t *first = cddb_disc_clone(disc);
	for (int i = 0; i < n; i++) {
		printf("match %s %08x %s / %s\n", cddb_disc_get_category_str(disc), cddb_disc_get_discid(disc),
		       cddb_disc_get_artist(disc), cddb_disc_get_title(disc));
		if (i + 1 < n && !cddb_query_next(conn, disc)) {
			fprintf(stderr, "query_next failed\n");
			return 1;
		}
	}
	if (!cddb_read(conn, first)) {
		fprintf(stderr, "read failed: %s\n", cddb_error_str(cddb_errno(conn)));
		return 1;
	}
	printf("read %s %08x\n", cddb_disc_get_category_str(first), cddb_disc_get_discid(first));
	/* libcddb splits DTITLE at " / ": join it again. */
	printf("title %s / %s\n", cddb_disc_get_artist(first), cddb_disc_get_title(first));
	printf("year %u\n", cddb_disc_get_year(first));
	printf("tracks %d\n", cddb_disc_get_track_count(first));
	cddb_track_t *t = cddb_disc_get_track_first(first);
	if (t != NULL)
		printf("track1 %s\n", cddb_track_get_title(t));
	cddb_disc_destroy(first);
	cddb_disc_destroy(disc);
	cddb_destroy(conn);
	libcddb_shutdown();
	return 0;
}
