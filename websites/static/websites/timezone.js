// Add-website page: preselect the browser's time zone when the list has it.
const select = document.querySelector("select[data-detect-timezone]");
if (select && select.value === "UTC") {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && Array.from(select.options).some((option) => option.value === zone)) {
      select.value = zone;
    }
  } catch {
    // An old browser without Intl time zones: UTC stays selected.
  }
}
