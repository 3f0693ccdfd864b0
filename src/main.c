/* teams-attendance: the command line. Parses it (through config), calls the job,
 * maps the outcome to the exit status of SPEC section 8. */
#include <stdio.h>

int main(void)
{
    printf("teams-attendance %s\n", TA_VERSION);
    return 0;
}
