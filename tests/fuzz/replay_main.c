/*
 * replay_main.c - main() for the fuzz targets built without libFuzzer: replays
 * files and directories (a seed corpus) through LLVMFuzzerTestOneInput, so
 * that every compiler and every sanitizer build runs the corpus as a test.
 * Exit status 1 if nothing was replayed or a file could not be read; a failed
 * check in the target aborts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *prog = "fuzz";

/* Replays one file through the target. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "%s: cannot read %s\n", prog, path);
        if (f)
            fclose(f);
        return -1;
    }
    /* exactly len bytes, so that ASan catches a read past the end */
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "%s: cannot read %s\n", prog, path);
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    const char *slash = strrchr(argv[0], '/');
    prog = slash ? slash + 1 : argv[0];
    unsigned long files = 0;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *dir = opendir(argv[i]);
            struct dirent *de;
            char path[4096];
            if (dir == NULL) {
                rc = 1;
                continue;
            }
            while ((de = readdir(dir)) != NULL) {
                if (de->d_name[0] == '.')
                    continue;
                snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
                if (run_file(path) != 0)
                    rc = 1;
                files++;
            }
            closedir(dir);
        } else {
            if (run_file(argv[i]) != 0)
                rc = 1;
            files++;
        }
    }
    printf("%s: replayed %lu inputs\n", prog, files);
    return files == 0 ? 1 : rc;
}
