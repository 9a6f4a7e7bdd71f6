// How many items each list shows per page (the tests read them too: no DOM here).
export const JOB_PAGE = 20;
/** Per status: "open and acknowledged" pages through both. */
export const ALERT_PAGE = 20;
export const FEEDBACK_PAGE = 10;
/** Points of the 24-hour status history: 15-minute buckets. */
export const HISTORY_POINTS = 96;
/** Events per page when paging back from the oldest shown. */
export const EARLIER_PAGE = 50;
